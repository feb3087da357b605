"""Reports: build the report (series, onsets, shifts) from the store and render it."""
