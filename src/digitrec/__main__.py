from digitrec.cli import app

app(prog_name="digitrec")
