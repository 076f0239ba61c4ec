"""medinstruct_core."""
