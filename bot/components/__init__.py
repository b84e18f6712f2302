"""Custom Rasa components of the Rightsline NLU (importable because Rasa puts its working
directory, the repository root, on sys.path)."""
