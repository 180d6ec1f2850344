"""City data: profiles, fetching the public sources, the one-command bootstrap."""
