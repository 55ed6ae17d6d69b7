drop table validation_reviews;
