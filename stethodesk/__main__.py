from stethodesk.cli import entry

entry()
