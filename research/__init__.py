"""Research: a knowledge base of papers, the ideas they suggest and the experiments that tried them
(research/kb/), fed from arXiv (research/arxiv.py, papers.py, ideas.py) and by parameter studies
(research/study/). docs/research.md."""
