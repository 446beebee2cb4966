"""Scoring a saved detector folder on labelled test cells into results rows (`scoring.cells`)."""
