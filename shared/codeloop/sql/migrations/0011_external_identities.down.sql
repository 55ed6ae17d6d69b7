drop table external_identities;
