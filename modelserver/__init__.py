"""modelserver package."""
