-- No query reads attempts by application here (an application's history is deleted through its
-- messages), so this index cost every attempt one more B-tree insert for nothing. PostgreSQL keeps its
-- twin: it purges a deleted application's attempts by app_id.
DROP INDEX attempts_app;
