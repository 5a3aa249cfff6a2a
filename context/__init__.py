"""Context gathering: the document store and what the model should see around the cursor."""

from infill.context.cursor import CursorContext, cursor_context
from infill.context.document import Document, InvalidEdit

__all__ = ["CursorContext", "Document", "InvalidEdit", "cursor_context"]
