"""What reads a run's results back: runs from ML Metadata, the HTML report, the TensorBoard folder."""
