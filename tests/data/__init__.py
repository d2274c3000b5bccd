"""The data stages' inputs: the Kaggle source (credentials, advice, no secret printed), the competition
zip (verified, extracted safely), the offline sample data, and prepare on planted bad files."""
