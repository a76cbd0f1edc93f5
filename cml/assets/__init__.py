"""Publishing the files a report points at, and rewriting only those links."""
