"""Judging stage: judges defined as data (YAML), their verdict parsers, offline judges and a verdict
cache. Importing this package never imports openai, torch or transformers."""
