"""`pr2 serve`: users' histories in a SQL database and the PR² agent behind an HTTP API."""
