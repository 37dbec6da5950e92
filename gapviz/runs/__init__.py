"""The run store (the record of every run) and the records that flow through training."""
