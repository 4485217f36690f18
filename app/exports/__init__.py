"""Long exports made off the request: the scheduler writes the file, the person follows its progress
and is told when it is ready (a spreadsheet of tens of thousands of rows never holds a web worker)."""
