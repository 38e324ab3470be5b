"""Upload: resumable, chunked uploads that end as a video waiting to be transcoded."""
