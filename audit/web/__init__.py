"""What the two web entry points share (the recording server ``audit.serve`` and the workspace ``audit.ui``)."""
