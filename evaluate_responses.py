"""Evaluate responses (the LaMP-QA evaluator's command line):
python evaluate_responses.py --evaluator_llm Qwen/Qwen2.5-32B-Instruct --inputs_addr DATA --response_addr RESP --score_addr OUT
"""

import sys

from pr2.cli import app

if __name__ == "__main__":
    sys.exit(app(["evaluate", *sys.argv[1:]]))
