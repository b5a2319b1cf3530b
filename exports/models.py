# Export jobs, manifests and files arrive with the export issue.
