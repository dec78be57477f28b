"""Looking at data before and after a split: token statistics, validation findings, one
conversation's samples shown, and the HTML report."""
