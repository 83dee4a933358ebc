"""The paper broker and its fill rules. No I/O."""
