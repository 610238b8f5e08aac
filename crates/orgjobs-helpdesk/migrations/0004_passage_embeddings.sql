-- Sentence embeddings of knowledge-base passages, written by RAG_INDEX when
-- the worker has the embedding model (see orgjobs-embed): the unit-length
-- vector and the model it came from (name and a digest of its weights). A
-- passage indexed without the model, or by another model, is re-indexed when
-- KB_SUGGEST meets it (it enqueues RAG_INDEX for its article). kb_passages
-- stays a tenant table: its RLS, policy and grants are unchanged.
ALTER TABLE public.kb_passages
    ADD COLUMN embedding real[],
    ADD COLUMN embedding_model text,
    ADD CONSTRAINT kb_passages_embedding_model_check
        CHECK ((embedding IS NULL) = (embedding_model IS NULL)),
    ADD CONSTRAINT kb_passages_embedding_shape_check
        CHECK (embedding IS NULL OR (array_ndims(embedding) = 1 AND cardinality(embedding) > 0));
