DROP TABLE grants;
DROP TABLE access_requests;
