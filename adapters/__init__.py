"""Infrastructure other than the database, behind the domain's ports."""
