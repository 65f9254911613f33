"""Email campaigns, recipients and opens (built by the email-opens work)."""
