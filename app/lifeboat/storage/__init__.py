"""Where artifacts live besides the local folder: remote stores behind one interface."""
