"""Diagnostics: energy ledger (`energy`), patch test (`patch_test`), wave reflection (`reflection`),
blow-up guard (`guard`). Import the submodules directly; nothing heavy is imported here."""
