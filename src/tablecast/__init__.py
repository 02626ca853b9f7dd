"""tablecast: share a TSV or CSV table live. Upload it, get a link, browse it together."""

__version__ = "0.1.0"
