"""Infrastructure other than the database: mail and webhook delivery. Adapters implement the
domain's ports and import the domain, never the reverse."""
