# The knowledge base (articles, categories, search) arrives with its own issue.
