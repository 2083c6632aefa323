"""Streamlit-only glue for the cmh-explorer pages (state keys, cached wrappers, widgets)."""
