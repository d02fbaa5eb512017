"""The caseworker side: decrypts cases with the caseworker's own key. Imports storage and crypto."""
