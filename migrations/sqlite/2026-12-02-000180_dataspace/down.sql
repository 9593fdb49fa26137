DROP TABLE dsp_callbacks;
DROP TABLE dsp_transfers;
DROP TABLE dsp_negotiations;
