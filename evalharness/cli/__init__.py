"""The typer command-line interface: parsing and printing only."""
