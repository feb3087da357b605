"""Migration revisions, one file each, in a single linear chain."""
