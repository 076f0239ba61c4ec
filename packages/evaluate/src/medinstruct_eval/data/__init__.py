"""Package data: facts the evaluation needs (ids of official splits), no benchmark text."""
