"""The research knowledge base: papers, ideas, experiments and results, linked both ways (docs/research.md).

:class:`research.kb.store.KnowledgeBase` is the API; ``qtml kb`` (research/cli.py) the commands.
"""
