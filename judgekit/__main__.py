from judgekit.cli import cli

cli()
