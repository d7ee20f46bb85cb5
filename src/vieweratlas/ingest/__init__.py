"""Importers: files people already have → validated presence / channel rows for the lake."""
