from digitrec.cli.app import app

app(prog_name="digitrec")
