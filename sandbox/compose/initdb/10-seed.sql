-- The compose stack's seeded data (run once by the entrypoint, on an empty volume).
CREATE ROLE app LOGIN;
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, joined date NOT NULL);
INSERT INTO customers SELECT g, 'customer ' || g, date '2020-01-01' + g % 1000
  FROM generate_series(1, 1000) g;
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customers,
                     total numeric(10, 2) NOT NULL);
INSERT INTO orders SELECT g, 1 + g % 1000, (g % 977) * 1.25 FROM generate_series(1, 5000) g;
CREATE TABLE visits (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now());
GRANT INSERT ON visits TO app;
GRANT USAGE ON SEQUENCE visits_id_seq TO app;
