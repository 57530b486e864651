"""One module per CLI command; ``judgekit.cli`` assembles them."""
