"""Evaluation: scores (metrics), spatial and temporal structure, paired tests, the scores of test
days (scoring) and of the long run (longrun), the comparison of models and the domain gap."""
