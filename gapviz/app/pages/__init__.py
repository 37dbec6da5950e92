"""One module per page of the Streamlit app."""
