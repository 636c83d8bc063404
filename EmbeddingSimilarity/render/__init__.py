"""What people see: annotation documents (heatmap, choropleth, contour, clusters), colours, the
tinted thumbnail, the PNG picture with its legend and the collection gallery.
May import: slide, query (the maps it draws) and the foundation modules."""
