"""The weight sets' data files: class names and the catalog's JSON."""
