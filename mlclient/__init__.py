"""mlclient package."""
